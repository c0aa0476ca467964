#!/usr/bin/env node
// Plays a native `solc` binary for py-solc-x / Brownie, using solc-js from node_modules.
//
// py-solc-x runs `<SOLCX_BINARY_PATH>/solc-v<version>` in two ways only:
//   solc --version                       -> must print "Version: X.Y.Z+commit.H..."
//   solc --standard-json [--allow-paths a,b] [--base-path p]   (input JSON on stdin)
// Native solc cannot be downloaded here, so `make` writes a tiny wrapper under that name
// which execs this script. Imports that are not already in the input JSON are read from
// disk, but only below the current directory or an --allow-paths entry.
'use strict';

const fs = require('fs');
const path = require('path');
const solc = require('solc');

function parseArgs(argv) {
  const opts = { standardJson: false, version: false, allowPaths: [], basePath: null };
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    const [flag, inline] = arg.split(/=(.*)/s);
    const value = () => (inline !== undefined ? inline : argv[++i]);
    if (flag === '--version') opts.version = true;
    else if (flag === '--standard-json') opts.standardJson = true;
    else if (flag === '--allow-paths') opts.allowPaths.push(...value().split(',').filter(Boolean));
    else if (flag === '--base-path') opts.basePath = value();
    else if (flag === '--include-path') opts.allowPaths.push(value());
    else {
      process.stderr.write(`solc-js shim: unsupported option ${arg}\n`);
      process.exit(2);
    }
  }
  return opts;
}

function importCallback(opts) {
  const roots = [process.cwd(), ...opts.allowPaths].map((p) => path.resolve(p));
  const base = path.resolve(opts.basePath || process.cwd());
  return (importPath) => {
    const candidate = path.resolve(base, importPath);
    const allowed = roots.some((root) => candidate === root || candidate.startsWith(root + path.sep));
    if (!allowed) return { error: `File outside allowed paths: ${importPath}` };
    try {
      return { contents: fs.readFileSync(candidate, 'utf8') };
    } catch (err) {
      return { error: `File not found: ${importPath}` };
    }
  };
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.version) {
    process.stdout.write(`solc, the solidity compiler commandline interface\nVersion: ${solc.version()}\n`);
    return;
  }
  if (!opts.standardJson) {
    process.stderr.write('solc-js shim: only --version and --standard-json are supported\n');
    process.exit(2);
  }
  const input = fs.readFileSync(0, 'utf8');
  process.stdout.write(solc.compile(input, { import: importCallback(opts) }));
}

main();
