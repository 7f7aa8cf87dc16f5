import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Many tests spawn the built binary and train a few steps: on a busy 2-core machine one can take well
    // over vitest's 5 s default. A timeout here guards against hangs, not speed (that is npm run bench).
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
