from django.apps import AppConfig


class FastPayConfig(AppConfig):
    name = "fastpay"
    verbose_name = "Platform"

    def ready(self) -> None:
        import sys

        import eth_account  # noqa: F401  (imports py_ecc, which raises the recursion limit)

        # py_ecc sets sys.setrecursionlimit(100000) on import; with that, a deeply nested
        # JSON body overflows a thread's C stack and kills the whole process instead of
        # raising RecursionError. Put a sane limit back once everything is imported.
        sys.setrecursionlimit(3000)
