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

/** Entropy efficiency: at most 0.8x each baseline's mean entropy, a fifth sharper: well beyond prompt-to-prompt noise on 32 prompts. */
export const ENTROPY_MAX_RATIO = 0.8;

/** Bootstrap: resamples and CI level for every comparative criterion. */
export const BOOTSTRAP = { resamples: 2000, level: 0.95, seed: 20240501 };

/** Entropy efficiency across vocabularies: beyond 2x apart, raw entropies are not on one scale (ln V differs): said beside the verdict. */
export const ENTROPY_VOCAB_RATIO_NOTE = 2;
