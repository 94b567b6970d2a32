#!/usr/bin/env node
'use strict';
// sip-dispatcher: the server (no command, or `serve`) and the operator commands (README "Operator CLI").
// Runs the compiled build, dist/ (`npm run build`), when there is one. Without it, in a development
// checkout (the TypeScript sources and the tsx devDependency present), it runs the sources through
// tsx; SIPD_FROM_SOURCE=1 does that even when dist/ exists (the tests use it, so a stale build is
// never what they test). An installed package or image without dist/ cannot run: it says so (exit 70).
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const built = path.join(root, 'dist', 'apps', 'sip-dispatcher', 'main.js');
const source = path.join(root, 'apps', 'sip-dispatcher', 'main.ts');

function hasTsx() {
  try {
    require.resolve('tsx/cjs', { paths: [root] });
    return true;
  } catch {
    return false;
  }
}

if (process.env.SIPD_FROM_SOURCE !== '1' && fs.existsSync(built)) {
  process.setSourceMapsEnabled(true); // as node --enable-source-maps: stack traces name the .ts lines
  require(built);
} else if (fs.existsSync(source) && hasTsx()) {
  require('tsx/cjs');
  require(source);
} else {
  process.stderr.write(
    `sip-dispatcher: no build in ${path.join(root, 'dist')}: run \`npm run build\` (a development checkout can run the sources with tsx, a devDependency)\n`,
  );
  process.exit(70);
}
