// The coverage gate every package's vitest.config.ts applies (issue 17: measured on the commit before the rooms
// split, then held). Figures are percentages of src/; each package passes its own floor, measured with the test
// line on this 2-core machine and rounded down, less one point for the paths only a race reaches (a timer
// that fires first, a reply that is lost) so that a run on a slower machine does not turn red by chance.
// A package whose coverage drops below its floor fails `pnpm test`; the summary is in .test-results/coverage/.
export interface CoverageFloor {
  statements: number
  branches: number
  functions: number
  lines: number
}

export function coverage(floor: CoverageFloor) {
  return {
    enabled: true,
    provider: 'v8' as const,
    include: ['src/**'],
    exclude: ['src/**/*.d.ts'],
    reporter: ['text-summary', 'json-summary'],
    reportsDirectory: '.test-results/coverage',
    thresholds: { ...floor },
  }
}
