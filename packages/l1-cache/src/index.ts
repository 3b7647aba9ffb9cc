/** Placeholder until the cache lands. */
export const version: string = '0.0.0'
