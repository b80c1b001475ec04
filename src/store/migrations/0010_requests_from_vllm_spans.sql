-- Spans as vLLM emits them become requests too (SPEC §4: vLLM, Triton, TGI send here). vLLM's
-- `llm_request` SERVER span names no gen_ai.operation.name and no gen_ai.request.model; it
-- carries gen_ai.response.model and the pre-1.0 GenAI token names gen_ai.usage.prompt_tokens /
-- completion_tokens. Such a span (tenant-labelled, SERVER, with prompt_tokens) is now a request;
-- the model falls back to gen_ai.response.model and the token counts to the older names. Spans
-- that follow the current conventions map exactly as before.
--
-- MODIFY QUERY swaps the view's SELECT in place: no window in which spans arriving during the
-- migration would pass through no view (as DROP + CREATE would leave).
ALTER TABLE requests_mv {{on_cluster}} MODIFY QUERY
SELECT
    SpanAttributes['tenant.id'] AS tenant_id,
    Timestamp AS ts,
    TraceId AS trace_id,
    SpanId AS span_id,
    ServiceName AS service_name,
    ResourceAttributes['service.instance.id'] AS instance_id,
    ResourceAttributes['host.name'] AS host,
    if(SpanAttributes['gen_ai.request.model'] != '', SpanAttributes['gen_ai.request.model'], SpanAttributes['gen_ai.response.model']) AS model,
    multiIf(
        SpanAttributes['inferledger.model.variant'] != '', SpanAttributes['inferledger.model.variant'],
        SpanAttributes['gen_ai.request.model'] != '', SpanAttributes['gen_ai.request.model'],
        SpanAttributes['gen_ai.response.model']) AS model_variant,
    SpanAttributes['inferledger.model.version'] AS model_version,
    SpanAttributes['gen_ai.operation.name'] AS operation,
    multiIf(
        SpanAttributes['inferledger.rejected'] = 'true', 'rejected',
        StatusCode IN ('Error', 'STATUS_CODE_ERROR'), 'error',
        'ok') AS status,
    SpanAttributes['error.type'] AS error_type,
    toUInt16OrZero(SpanAttributes['http.response.status_code']) AS http_status,
    toUInt32OrZero(SpanAttributes['inferledger.batch_size']) AS batch_size,
    toUInt64OrZero(SpanAttributes['inferledger.input_elements']) AS input_elements,
    toUInt64OrZero(SpanAttributes['inferledger.output_elements']) AS output_elements,
    toUInt64OrZero(if(SpanAttributes['gen_ai.usage.input_tokens'] != '', SpanAttributes['gen_ai.usage.input_tokens'], SpanAttributes['gen_ai.usage.prompt_tokens'])) AS input_tokens,
    toUInt64OrZero(if(SpanAttributes['gen_ai.usage.output_tokens'] != '', SpanAttributes['gen_ai.usage.output_tokens'], SpanAttributes['gen_ai.usage.completion_tokens'])) AS output_tokens,
    Duration AS duration_ns,
    toUInt64(greatest(0, round(toFloat64OrZero(SpanAttributes['inferledger.queue_ms']) * 1000000))) AS queue_ns,
    toUInt64(greatest(0, round(toFloat64OrZero(SpanAttributes['inferledger.inference_ms']) * 1000000))) AS inference_ns,
    toUInt64(greatest(0, round(toFloat64OrZero(SpanAttributes['inferledger.cpu_seconds']) * 1000000))) AS cpu_us,
    toUInt64(greatest(0, round(toFloat64OrZero(SpanAttributes['inferledger.gpu_seconds']) * 1000000))) AS gpu_us,
    ResourceAttributes['inferledger.gpu.model'] AS gpu_model
FROM otel_traces
WHERE SpanAttributes['tenant.id'] != ''
  AND (SpanAttributes['gen_ai.operation.name'] != '' OR SpanAttributes['gen_ai.usage.prompt_tokens'] != '')
  AND SpanKind IN ('Server', 'SPAN_KIND_SERVER');
