/** Types for parse-prometheus-text-format 1.1 (it ships none): what its parser returns. */
declare module 'parse-prometheus-text-format' {
  export interface ParsedSample {
    /** The sample value as written ("87", "NaN", "+Inf"). */
    value: string;
    labels?: Record<string, string>;
    timestamp_ms?: string;
  }
  export interface ParsedFamily {
    name: string;
    help: string;
    type: string;
    metrics: ParsedSample[];
  }
  export default function parsePrometheusTextFormat(text: string): ParsedFamily[];
}
