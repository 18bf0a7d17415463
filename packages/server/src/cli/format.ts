/** Plain-text output for people: aligned tables and a one-line progress bar. */

export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line)].join("\n");
}

export function progressLine(p: {
  progress?: number | null;
  stage?: string | null;
  message?: string | null;
  step?: number | null;
  step_total?: number | null;
}): string {
  const frac = typeof p.progress === "number" ? Math.max(0, Math.min(1, p.progress)) : 0;
  const width = 30;
  const filled = Math.round(frac * width);
  const steps = p.step != null && p.step_total != null ? ` ${p.step}/${p.step_total}` : "";
  const text = [p.stage, p.message].filter(Boolean).join(": ");
  return `[${"#".repeat(filled)}${"-".repeat(width - filled)}] ${(frac * 100).toFixed(0).padStart(3)}%${steps} ${text}`.slice(
    0,
    120,
  );
}
