// Unhandled rejections fail the run (as ioredis' test helpers do) instead of being logged and lost.
process.on('unhandledRejection', (reason) => {
  throw reason instanceof Error ? reason : new Error(`unhandled rejection: ${String(reason)}`);
});
