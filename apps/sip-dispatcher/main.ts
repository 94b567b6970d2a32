/**
 * `sip-dispatcher` (bin/sip-dispatcher.js): one command for the server and the operator CLI.
 * `sip-dispatcher [serve] [--config <file>]` runs the server (apps/dispatcher/main.ts);
 * `sip-dispatcher <status|calls|hangup|events|help> ...`, `--help` and `--version` run the operator
 * CLI (apps/cli/main.ts). Both read their arguments from process.argv when loaded, so the command
 * line is rewritten (without `serve`) before the chosen one is required.
 */
import { programFor } from '../../lib/cli/args';

const { program, argv } = programFor(process.argv.slice(2));
process.argv = [...process.argv.slice(0, 2), ...argv];
// require, not import: only the chosen program is loaded, after process.argv is rewritten above
if (program === 'server') {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded on demand (see above)
  require('../dispatcher/main');
} else {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded on demand (see above)
  require('../cli/main');
}
