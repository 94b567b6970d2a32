/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  // the fuzz run floods drachtio-server for 16 s: it runs on its own after the rest (npm test's second
  // step, SIPD_FUZZ=1), so neither it nor the tests beside it measure the other's load
  testPathIgnorePatterns: process.env.SIPD_FUZZ === '1' ? [] : ['/node_modules/', '<rootDir>/test/sip/fuzz\\.test\\.ts$'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }],
  },
  setupFilesAfterEnv: ['<rootDir>/test/helpers/jest-setup.ts'],
  testTimeout: 60000,
  maxWorkers: 2,
  reporters: ['default', '<rootDir>/test/helpers/summary-reporter.js'],
};
