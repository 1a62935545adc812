/** Nearest-rank quantile of a sample (0 < q ≤ 1); NaN when empty. */
export function quantile(values: ArrayLike<number>, q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = Float64Array.from(values).sort();
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)));
  return sorted[rank - 1] as number;
}

/** Median of a few repetitions. */
export function median(values: readonly number[]): number {
  return quantile(values, 0.5);
}

/** Fixed-point rendering for tables: 0.123 → "0.123", 12.3 → "12.3", 1234 → "1,234". */
export function fmt(value: number, digits?: number): string {
  if (!Number.isFinite(value)) return '—';
  const d = digits ?? (Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : Math.abs(value) >= 1 ? 2 : 3);
  return value.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
}

/** A ratio as "0.42×". */
export function ratio(value: number): string {
  return Number.isFinite(value) ? `${value.toFixed(2)}×` : '—';
}
