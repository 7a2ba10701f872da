/**
 * Every threshold a hypothesis is judged by, with the reason for its value.
 * The reporter prints each next to the measured value.
 */

/** Silent exit: the last layer contracted by 0.58x, so a W_U standing in for the missing expansion must amplify by at least 1/0.58 ≈ 1.72 relative to the baselines. */
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
