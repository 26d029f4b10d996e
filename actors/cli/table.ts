// Plain-text table rendering for benchmark and demo output.

export type Column<Row> = { header: string; value: (row: Row) => string | number; align?: "left" | "right" };

export function renderTable<Row>(rows: readonly Row[], columns: readonly Column<Row>[]): string {
  const cells = rows.map((row) => columns.map((column) => format(column.value(row))));
  const widths = columns.map((column, i) => Math.max(column.header.length, ...cells.map((line) => line[i]!.length)));
  const pad = (text: string, i: number) =>
    (columns[i]!.align ?? "right") === "left" ? text.padEnd(widths[i]!) : text.padStart(widths[i]!);
  const header = columns.map((column, i) => pad(column.header, i)).join("  ");
  const rule = widths.map((width) => "-".repeat(width)).join("  ");
  return [header, rule, ...cells.map((line) => line.map(pad).join("  "))].join("\n");
}

function format(value: string | number): string {
  if (typeof value === "string") return value;
  if (Number.isInteger(value)) return value.toLocaleString("en-US");
  if (Math.abs(value) < 10) return value.toFixed(3);
  return value.toLocaleString("en-US", { minimumFractionDigits: 1, maximumFractionDigits: 1 });
}
