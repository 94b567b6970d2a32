/**
 * Plain-text tables with aligned columns, optionally coloured with ANSI escapes. Pure: the caller
 * decides whether colour is on (useColour).
 */

export type Colour = 'green' | 'red' | 'yellow' | 'dim';

const ANSI: Record<Colour, string> = { green: '32', red: '31', yellow: '33', dim: '2' };

export interface Cell {
  text: string;
  colour?: Colour;
}

export type CellValue = string | number | Cell;

export interface Column {
  header: string;
  /** numbers read best right-aligned; default left */
  align?: 'left' | 'right';
}

/** Colour for a terminal only, and never when NO_COLOR is set to anything but "" (https://no-color.org). */
export function useColour(isTTY: boolean | undefined, env: Readonly<Record<string, string | undefined>>): boolean {
  return isTTY === true && (env.NO_COLOR === undefined || env.NO_COLOR === '');
}

export function paint(text: string, colour: Colour | undefined, enabled: boolean): string {
  return enabled && colour !== undefined ? `\u001b[${ANSI[colour]}m${text}\u001b[0m` : text;
}

function toCell(v: CellValue): Cell {
  return typeof v === 'object' ? v : { text: String(v) };
}

/** Width on screen, counting code points (not UTF-16 units). */
function width(text: string): number {
  return [...text].length;
}

/**
 * Columns separated by two spaces, each as wide as its widest cell; no trailing spaces. Colour wraps
 * the text only, so the padding (and the alignment) is the same with and without it.
 */
export function formatTable(columns: readonly Column[], rows: readonly (readonly CellValue[])[], colour = false): string {
  const cells = rows.map((row) => columns.map((_, i) => toCell(row[i] ?? '')));
  const widths = columns.map((c, i) => Math.max(width(c.header), ...cells.map((row) => width(row[i].text))));
  const line = (row: readonly Cell[]): string =>
    row
      .map((cell, i) => {
        const pad = ' '.repeat(widths[i] - width(cell.text));
        const text = paint(cell.text, cell.colour, colour);
        if (columns[i].align === 'right') return pad + text;
        return i === row.length - 1 ? text : text + pad;
      })
      .join('  ');
  return [line(columns.map((c) => ({ text: c.header }))), ...cells.map(line)].join('\n');
}
