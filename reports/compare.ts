/**
 * PROBESPEC_COMPARE: what changed since an earlier results.json: verdicts (the
 * hypothesis' and each cohort's), measures (each model's value over the prompt
 * set) and the preregistration stamp (spec files, criteria, prompts, model
 * cache keys, commit). Claims kept as regression tests across models,
 * runtime versions and edits. Both files are read as results.json writes them.
 */

/** A results.json as parsed: the earlier one may be of another version, so every field is looked up with care. */
type Json = Record<string, any>;

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
const short = (v: unknown) => {
  const s = typeof v === "number" ? v.toPrecision(6) : (JSON.stringify(v) ?? "absent");
  return s.length > 60 ? `${s.slice(0, 57)}…` : s;
};

/** One line per change, verdicts first, then measures, then stamps; none where nothing changed. */
export function compareResults(before: Json, after: Json): string[] {
  const lines: string[] = [];
  const keys = (a?: Json, b?: Json) => [...new Set([...Object.keys(a ?? {}), ...Object.keys(b ?? {})])].sort();
  const [vb, va] = [before.verdicts ?? {}, after.verdicts ?? {}];
  for (const h of keys(vb, va)) {
    const [b, a] = [vb[h], va[h]];
    if (b?.verdict !== a?.verdict) lines.push(`verdict ${h}: ${b?.verdict ?? "absent"} → ${a?.verdict ?? "absent"}`);
    for (const c of keys(b?.by_cohort, a?.by_cohort))
      if (b?.by_cohort?.[c]?.verdict !== a?.by_cohort?.[c]?.verdict)
        lines.push(
          `verdict ${h} (${c}): ${b?.by_cohort?.[c]?.verdict ?? "absent"} → ${a?.by_cohort?.[c]?.verdict ?? "absent"}`,
        );
  }
  const [mb, ma] = [before.extended ?? {}, after.extended ?? {}];
  for (const id of keys(mb, ma)) {
    if (!mb[id] || !ma[id]) {
      lines.push(`model ${id}: ${mb[id] ? "no longer in the run" : "new in this run"}`);
      continue;
    }
    for (const m of keys(mb[id].measures, ma[id].measures)) {
      const [b, a] = [mb[id].measures?.[m], ma[id].measures?.[m]];
      if (!same(b, a))
        lines.push(
          `measure ${m} of ${id}: ${short(b?.value ?? b?.unavailable)} → ${short(a?.value ?? a?.unavailable)}`,
        );
    }
  }
  const [sb, sa] = [before.preregistration ?? {}, after.preregistration ?? {}];
  for (const f of keys(sb.specs, sa.specs))
    if (sb.specs?.[f] !== sa.specs?.[f])
      lines.push(`stamp: spec ${f} ${sb.specs?.[f] ? (sa.specs?.[f] ? "edited" : "removed") : "added"}`);
  if (sb.criteria !== sa.criteria) lines.push("stamp: criteria.ts edited: a threshold or its reason changed");
  if (sb.prompts !== sa.prompts) lines.push("stamp: the prompt set changed");
  for (const id of keys(sb.models, sa.models))
    if (sb.models?.[id] !== sa.models?.[id])
      lines.push(
        `stamp: model ${id}'s cache key (its files, probespec's probes, prompts, measures, provider) ${short(sb.models?.[id])} → ${short(sa.models?.[id])}`,
      );
  if (sb.commit !== sa.commit)
    lines.push(`stamp: probespec's commit ${sb.commit ?? "unknown"} → ${sa.commit ?? "unknown"}`);
  return lines;
}
