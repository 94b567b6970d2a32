#!/usr/bin/env node
'use strict';
// The operator CLI (README "Operator CLI"). Runs the TypeScript entry through tsx until the
// package is compiled to dist/.
require('tsx/cjs');
require('../apps/cli/main.ts');
