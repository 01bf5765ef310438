// Entry point of the daemon child process in live tests (bundled by daemon-process.ts), so the
// tests run the code under test rather than a possibly stale dist/.
import { runDaemon } from '../../src/cli/run-command';

const [configPath, output] = process.argv.slice(2);
void runDaemon({ configPath, output }).then((code) => process.exit(code));
