/**
 * Every threshold a hypothesis is judged by, with the reason for its value.
 * The reporter prints each next to the measured value.
 */

/**
 * Silent exit: the last layer contracted by 0.58x, so a W_U standing in for the missing expansion must amplify by at
 * least 1/0.58 ≈ 1.72 relative to the baselines. Amplify is measured as the readout's softmax-relevant gain
 * (probes/metrics.ts softmaxGain): W_U_eff with its mean row removed, RMS over rows. The notebook's σ(W_U_eff)/√d is
 * not fit for the comparison: a matrix of random rows has a spectral norm that grows with √vocab, so Mistral's 32000
 * tokens against a 512-token baseline read as 8x "amplification" with no amplification at all; and the top singular
 * direction of a trained W_U is often its mean row, a shift every logit shares and softmax never sees. The RMS of the
 * centred rows is the typical spread of the logits that a unit-RMS direction produces: invariant to vocabulary size, to
 * width (rows of the usual 1/√d initialisation), and to any shift common to all logits.
 */
export const SILENT_EXIT_MIN_RATIO = 1 / 0.58;

/** The paradox: a whole-tensor last-layer residual gain below 1 is a contraction, by the notebook's definition. */
export const PARADOX_MAX_GAIN = 1;

/** "Near 1": the notebook's panel 1 plotted gains in 0.9–1.1; a middle layer outside ±0.1 changes the stream's norm by more than a tenth. */
export const MIDDLE_GAIN_TOLERANCE = 0.1;

/** The middle layers are the central half: the first and last quarters hold the embedding-side and readout-side effects. */
export const MIDDLE_FRACTION: [number, number] = [0.25, 0.75];

/** "Early" is the first quarter of the layers, where the notebook found Mistral's jump (6 → 265 into layer 1). */
export const EARLY_FRACTION = 0.25;

/**
 * Entropy efficiency: at most 0.8x each baseline's mean entropy, a fifth sharper: well beyond prompt-to-prompt noise on
 * 32 prompts. Entropies are compared as entropy ÷ ln V, on one scale across vocabularies (ln V bounds each): for two
 * models of one vocabulary the ratio is the raw entropies' ratio.
 */
export const ENTROPY_MAX_RATIO = 0.8;

/**
 * Bootstrap and error rates: α is the chance a hypothesis' verdict is wrong in the direction it states, confirmed or
 * rejected, for each cohort (probes/statistics.ts judgeFamily). Each claim is read at its (1 − 2α) interval, a
 * one-sided test at α each way: BCa, with Student's t for the prompts' number (a percentile interval, measured, erred
 * up to 7% of the time at 5% on 33 prompts). At least `resamples` resamples, more where a Holm level's tail would rest on fewer
 * than 50; a fixed seed makes a run repeatable.
 */
export const BOOTSTRAP = { resamples: 10_000, alpha: 0.05, seed: 20240501 };

/**
 * The fewest prompts a claim over prompts is judged on. A bootstrap interval reflects the prompts'
 * variation only when there are enough of them: on a handful it is far narrower than its level says (one prompt gives
 * an interval of zero width), so a verdict on fewer is inconclusive, saying so.
 */
export const MIN_PROMPTS = 10;

/**
 * Attention sink: over the last half of the layers, heads put at least twice as much attention on position 0 as
 * uniform causal attention would (query q attending evenly gives key 0 a share of 1/(q+1)). The share alone misleads on
 * short prompts: at ten tokens uniform attention already puts about 0.2 on position 0, and a 0.5 bar would call a head
 * with no preference most of the way to a sink. Twice the uniform share is a preference no evenly attending head shows.
 */
export const SINK_MIN_RATIO = 2;

/** The last half of the layers: from ⌊L/2⌋ on, where the notebook's subject removes its first-token activation. */
export const SINK_FROM_FRACTION = 0.5;

/** A threshold as every title, criterion and reason prints it: at most two decimals (1/0.58 reads 1.72). */
export const shown = (x: number) => String(+x.toFixed(2));
