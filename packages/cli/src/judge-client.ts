/**
 * The HTTP client of the MT-Bench-style judge: OpenAI-compatible `POST {baseUrl}/chat/completions`, with
 * temperature 0 and max_tokens 2048 as FastChat does, retries with exponential back-off, and the API key read
 * from the environment variable the judge config names. Core defines the protocol (`JudgeComplete`, the
 * prompts, the ratings); this is the only code in soo that opens a network connection.
 */
import { BackendError, InvalidArgumentError, type JudgeComplete, type JudgeConfig } from '@soo/core';

export interface JudgeRequestOptions {
  /** Default: global `fetch`. */
  fetchImpl?: typeof fetch;
  /** Where the API key is looked up; default `process.env`. */
  env?: Record<string, string | undefined>;
  /** Milliseconds between retries (doubled each time); default 1000. */
  retryDelayMs?: number;
}

/** One chat-completions request; returns the first choice's message content. */
export async function chatCompletion(
  config: JudgeConfig,
  messages: ReadonlyArray<{ role: string; content: string }>,
  options: JudgeRequestOptions = {},
): Promise<string> {
  const fetchImpl = options.fetchImpl ?? globalThis.fetch;
  const env = options.env ?? process.env;
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (config.apiKeyEnv) {
    const key = env[config.apiKeyEnv];
    if (!key) {
      throw new InvalidArgumentError(
        'INVALID_ARGUMENT',
        `the judge API key variable ${config.apiKeyEnv} is not set (the judge config names it in "apiKeyEnv")`,
        { field: 'apiKeyEnv' },
      );
    }
    headers.authorization = `Bearer ${key}`;
  }
  const url = `${config.baseUrl.replace(/\/+$/, '')}/chat/completions`;
  const body = JSON.stringify({
    model: config.model,
    messages,
    temperature: config.temperature ?? 0,
    max_tokens: config.maxTokens ?? 2048,
  });
  const retries = config.maxRetries ?? 2;
  let delay = options.retryDelayMs ?? 1000;
  let last = '';
  for (let attempt = 0; attempt <= retries; attempt++) {
    if (attempt > 0) {
      await new Promise((r) => setTimeout(r, delay));
      delay *= 2;
    }
    try {
      const res = await fetchImpl(url, {
        method: 'POST',
        headers,
        body,
        signal: AbortSignal.timeout(config.timeoutMs ?? 120_000),
      });
      const text = await res.text();
      if (!res.ok) {
        last = `HTTP ${res.status}: ${text.slice(0, 200)}`;
        if (res.status === 400 || res.status === 401 || res.status === 403 || res.status === 404) break;
        continue;
      }
      const json = JSON.parse(text) as { choices?: Array<{ message?: { content?: unknown } }> };
      const content = json.choices?.[0]?.message?.content;
      if (typeof content !== 'string') {
        last = `no choices[0].message.content in the response: ${text.slice(0, 200)}`;
        continue;
      }
      return content;
    } catch (e) {
      last = (e as Error).message;
    }
  }
  throw new BackendError('BACKEND_UNAVAILABLE', `judge request to ${url} failed: ${last}`, {
    field: 'baseUrl',
  });
}

/** A `JudgeComplete` for core's `judgeAnswers` that sends each conversation to the configured endpoint. */
export function httpJudge(config: JudgeConfig, options: JudgeRequestOptions = {}): JudgeComplete {
  return (messages) => chatCompletion(config, messages, options);
}
