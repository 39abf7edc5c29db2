/** "1 volume", "3 volumes": a count with its noun (regular plurals only). */
export function plural(n: number, noun: string): string {
  return `${n.toLocaleString('en')} ${noun}${n === 1 ? '' : 's'}`;
}
