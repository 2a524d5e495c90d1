import { maxEnvelopeBytes, type ConsumedMessage } from '@sluice/core';
import { deadLetter, ok, type StepResult } from './step-result';

/** Largest message value the worker will parse; bigger ones can never be a valid envelope. */
export const maxMessageBytes = maxEnvelopeBytes;

/** Refuses bytes that are not UTF-8, rather than turning them into U+FFFD and storing an altered event. */
const utf8 = new TextDecoder('utf-8', { fatal: true });

export function createParseMessageStep() {
  return function parseMessage(message: ConsumedMessage): StepResult<unknown> {
    if (message.value === null) return deadLetter('the message has no value (a tombstone)');
    if (message.value.length > maxMessageBytes) return deadLetter(`the message is ${message.value.length} bytes, over the ${maxMessageBytes}-byte limit`);
    let text: string;
    try {
      text = utf8.decode(message.value);
    } catch {
      return deadLetter('the message is not valid UTF-8: an envelope is JSON text in UTF-8');
    }
    try {
      return ok(JSON.parse(text) as unknown);
    } catch (error) {
      return deadLetter(`the message is not JSON: ${(error as Error).message}`);
    }
  };
}
