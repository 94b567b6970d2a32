/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  // run on their own after the rest (npm test's second step, SIPD_SOLO=1), one after the other: the fuzz
  // run floods drachtio-server for 16 s, and the cluster tests time a takeover against watch intervals;
  // on a 2-core machine the tests beside them (and they themselves) would measure each other's load
  testPathIgnorePatterns:
    process.env.SIPD_SOLO === '1' ? [] : ['/node_modules/', '<rootDir>/test/sip/fuzz\\.test\\.ts$', '<rootDir>/test/sip/cluster\\.test\\.ts$'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }],
  },
  setupFilesAfterEnv: ['<rootDir>/test/helpers/jest-setup.ts'],
  testTimeout: 60000,
  maxWorkers: 2,
  reporters: ['default', '<rootDir>/test/helpers/summary-reporter.js'],
};
