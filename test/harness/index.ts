/** The end-to-end test harness: real redis-server, sipp peers, the app under test. */
export { freeTcpPort, freeUdpPort, releasePort, LOOPBACK } from './ports';
export { startRedis, type RedisServer, type StartRedisOptions } from './redis';
export {
  startUas,
  runUac,
  parseSippStats,
  UAS_SCENARIOS,
  UAC_SCENARIOS,
  UAS_DEFAULT_DELAY_MS,
  type SippStats,
  type SippUas,
  type UasBehaviour,
  type UacScenario,
  type RunUacOptions,
  type StartUasOptions,
  type UacResult,
} from './sipp';
export { startApp, trackChild, killChild, parseJsonLine, connectedToDrachtio, type AppProcess, type StartAppOptions } from './app';
