/** Placeholder replaced below. */
export default class ProbespecReporter {}
