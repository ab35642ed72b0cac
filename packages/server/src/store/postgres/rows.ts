/** Rows as `pg` returns them: BIGINT columns come as decimal strings; the shared page helpers want `seq` as a number. */
export function withSeq<R extends { seq: string }>(row: R): Omit<R, 'seq'> & { seq: number } {
  return { ...row, seq: Number(row.seq) };
}
