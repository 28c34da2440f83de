/** Send-side bandwidth estimation (GCC): see docs/sfu.md, "Control". */
export { AckedBitrateEstimator, type AckedBitrateOptions } from './acked-bitrate.ts';
export { AimdRateControl, DelayBasedBwe, GROUP_SPAN_MS, InterArrival, OveruseDetector, TrendlineFilter, type AimdOptions, type DelayBasedOptions, type GroupDelta, type OveruseDetectorOptions, type TrendlineOptions } from './delay-based.ts';
export { LossBasedBwe, type LossBasedOptions } from './loss-based.ts';
export { ProbeController, ProbeResultEstimator, type ProbeCluster, type ProbeControllerOptions } from './probe.ts';
export { SendSideBwe, type SendSideBweOptions } from './send-side-bwe.ts';
export type { BandwidthUsage, PacketFeedback, PacketResult, SentPacket } from './types.ts';
export { twccToFeedback, type TwccLike } from './twcc-results.ts';
export { RembEstimator, type RembOptions } from './remb-estimator.ts';
