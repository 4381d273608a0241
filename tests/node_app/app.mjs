// A real Node.js app calling Gemini with @google/genai, traced by a small GenAI instrumentation of its own.
//
// OpenLLMetry-JS only patches @google/genai 1.x, so this wraps `ai.models.generateContent` itself and opens one
// CLIENT span per call with the GenAI semantic-convention attributes (the same names and token arithmetic as
// otel-gemini's Python spans: docs/metrics.md), exported as OTLP/HTTP protobuf to OTEL_EXPORTER_OTLP_ENDPOINT
// (the exporter appends /v1/traces) through the NodeSDK, flushed before exit. The otel-gemini agent prices these
// spans; nothing here knows any price.
//
// Environment: GEMINI_BASE_URL (a Gemini-compatible endpoint, e.g. otel_gemini.testing.FakeGemini), GEMINI_API_KEY,
// GEMINI_MODEL (default gemini-2.5-flash), GEMINI_PROMPT, GEMINI_CALLS (default 1), OTEL_EXPORTER_OTLP_ENDPOINT,
// OTEL_SERVICE_NAME. Prints one JSON line per call (the usageMetadata received) on stdout.

import { GoogleGenAI } from "@google/genai";
import { SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { NodeSDK } from "@opentelemetry/sdk-node";

const PROVIDER = "gcp.gemini";
const SCOPE = "otel-gemini-node-sender";

/** Span attributes for a generateContent response's usageMetadata (semconv; input includes cached + tool-use). */
export function usageAttributes(usage) {
  if (!usage) return {};
  const prompt = usage.promptTokenCount ?? 0;
  const toolUse = usage.toolUsePromptTokenCount ?? 0;
  const candidates = usage.candidatesTokenCount ?? 0;
  const thoughts = usage.thoughtsTokenCount ?? 0;
  return {
    "gen_ai.usage.input_tokens": prompt + toolUse,
    "gen_ai.usage.output_tokens": candidates + thoughts,
    "gen_ai.usage.cache_read.input_tokens": usage.cachedContentTokenCount ?? 0,
    "gen_ai.usage.reasoning.output_tokens": thoughts,
  };
}

/** Wrap `ai.models.generateContent` (an instance property in @google/genai 2.x) with a GenAI CLIENT span. */
export function instrumentGenAI(ai, tracer, baseUrl) {
  const server = baseUrl ? new URL(baseUrl) : new URL("https://generativelanguage.googleapis.com");
  const port = Number(server.port || (server.protocol === "https:" ? 443 : 80));
  const original = ai.models.generateContent.bind(ai.models);
  ai.models.generateContent = async (params) => {
    const model = String(params?.model ?? "unknown").replace(/^models\//, "");
    const span = tracer.startSpan(`generate_content ${model}`, {
      kind: SpanKind.CLIENT,
      attributes: {
        "gen_ai.operation.name": "generate_content",
        "gen_ai.provider.name": PROVIDER,
        "gen_ai.request.model": model,
        "server.address": server.hostname,
        "server.port": port,
      },
    });
    try {
      const response = await original(params);
      if (response?.modelVersion) span.setAttribute("gen_ai.response.model", response.modelVersion);
      if (response?.responseId) span.setAttribute("gen_ai.response.id", response.responseId);
      const reasons = (response?.candidates ?? []).map((c) => c.finishReason).filter(Boolean);
      if (reasons.length) span.setAttribute("gen_ai.response.finish_reasons", reasons.map(String));
      span.setAttributes(usageAttributes(response?.usageMetadata));
      return response;
    } catch (error) {
      const status = error?.status ?? error?.code;
      span.setAttribute("error.type", status ? String(status) : (error?.name ?? "Error"));
      span.setStatus({ code: SpanStatusCode.ERROR, message: String(error?.message ?? error) });
      throw error;
    } finally {
      span.end();
    }
  };
  return ai;
}

async function main() {
  // Traces only: the agent serves /v1/traces, and NodeSDK would otherwise pick metric and log exporters from env.
  process.env.OTEL_METRICS_EXPORTER ??= "none";
  process.env.OTEL_LOGS_EXPORTER ??= "none";
  process.env.OTEL_SERVICE_NAME ||= "node-gemini-app";
  const sdk = new NodeSDK({ traceExporter: new OTLPTraceExporter(), instrumentations: [] });
  sdk.start();
  const baseUrl = process.env.GEMINI_BASE_URL;
  const ai = new GoogleGenAI({
    apiKey: process.env.GEMINI_API_KEY || "unused-key",
    httpOptions: baseUrl ? { baseUrl } : undefined,
  });
  instrumentGenAI(ai, trace.getTracer(SCOPE, "0.0.0"), baseUrl);
  const model = process.env.GEMINI_MODEL || "gemini-2.5-flash";
  const calls = Number(process.env.GEMINI_CALLS || 1);
  let failed = false;
  try {
    for (let i = 0; i < calls; i++) {
      const response = await ai.models.generateContent({
        model,
        contents: process.env.GEMINI_PROMPT || "Say hello in one word.",
      });
      console.log(JSON.stringify({ call: i, usageMetadata: response.usageMetadata ?? null }));
    }
  } catch (error) {
    failed = true;
    console.error(`generateContent failed: ${error?.message ?? error}`);
  } finally {
    await sdk.shutdown();  // flushes the BatchSpanProcessor, which would otherwise drop what is queued at exit
  }
  process.exitCode = failed ? 1 : 0;
}

await main();
