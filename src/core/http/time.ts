/** RFC 3339 UTC with `Z` and milliseconds; the one format Herald stores and returns. */
export function isoNow(): string {
  return new Date().toISOString();
}

export function toIso(value: Date | number): string {
  return new Date(value).toISOString();
}
