"""An import-linter contract type for a rule its built-in types cannot say: "these modules
import, of the project's own packages, only these packages and the *leaf* modules of those".

The authority node is a separate deployable: it may use fastpay_protocol and the few
modules of `fastpay` that stand alone (keyvault, bulk_insert, errors, ...), never the
platform's models, services or apps. A module is a leaf when it imports no module of the
project except from the fully allowed packages; so the rule keeps holding as `fastpay`
grows, without a list of its modules to maintain.

Registered in pyproject.toml ([tool.importlinter] contract_types) and run by `make lint`.
"""

from __future__ import annotations

from grimp import ImportGraph
from importlinter import Contract, ContractCheck, fields, output


def _root(module: str) -> str:
    return module.split(".", 1)[0]


def _inside(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


class LeafImportsContract(Contract):
    """Configuration options:
    - source_modules: the packages the rule applies to (with their descendants).
    - allowed_modules: project packages the sources may import freely.
    - leaf_packages: project packages the sources may import leaf modules of.
    Imports of third-party packages and within the source packages are not concerned.
    """

    type_name = "leaf_imports"

    source_modules = fields.ListField(subfield=fields.ModuleField())
    allowed_modules = fields.ListField(subfield=fields.ModuleField())
    leaf_packages = fields.ListField(subfield=fields.ModuleField())

    def check(self, graph: ImportGraph, verbose: bool) -> ContractCheck:
        sources = [m.name for m in self.source_modules]
        allowed = [m.name for m in self.allowed_modules]
        leaves = [m.name for m in self.leaf_packages]

        def project(module: str) -> bool:
            return module in graph.modules and not graph.is_module_squashed(module)

        def freely_allowed(module: str) -> bool:
            return any(_inside(module, p) for p in allowed + sources)

        def leaf(module: str) -> bool:
            return all(
                not project(imported) or freely_allowed(imported)
                for imported in graph.find_modules_directly_imported_by(module)
            )

        violations = []
        for source in sources:
            for importer in sorted(graph.find_descendants(source) | {source}):
                for imported in sorted(graph.find_modules_directly_imported_by(importer)):
                    if not project(imported) or freely_allowed(imported):
                        continue
                    if any(_inside(imported, p) for p in leaves) and leaf(imported):
                        continue
                    details = graph.get_import_details(importer=importer, imported=imported)
                    lines = ", ".join(str(d["line_number"]) for d in details)
                    violations.append(
                        {"importer": importer, "imported": imported, "lines": lines or "?"}
                    )
        return ContractCheck(kept=not violations, metadata={"violations": violations})

    def render_broken_contract(self, check: ContractCheck) -> None:
        leaves = ", ".join(m.name for m in self.leaf_packages)
        for v in check.metadata["violations"]:
            output.print_error(
                f"{v['importer']} is not allowed to import {v['imported']} "
                f"(l.{v['lines']}): only {', '.join(m.name for m in self.allowed_modules)} "
                f"and leaf modules of {leaves}",
                bold=False,
            )
        output.new_line()
