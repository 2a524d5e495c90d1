import { maxEnvelopeBytes, type ConsumedMessage } from '@sluice/core';
import { deadLetter, ok, type StepResult } from './step-result';

/** Largest message value the worker will parse; bigger ones can never be a valid envelope. */
export const maxMessageBytes = maxEnvelopeBytes;

export function createParseMessageStep() {
  return function parseMessage(message: ConsumedMessage): StepResult<unknown> {
    if (message.value === null) return deadLetter('the message has no value (a tombstone)');
    if (message.value.length > maxMessageBytes) return deadLetter(`the message is ${message.value.length} bytes, over the ${maxMessageBytes}-byte limit`);
    try {
      return ok(JSON.parse(message.value.toString('utf8')) as unknown);
    } catch (error) {
      return deadLetter(`the message is not JSON: ${(error as Error).message}`);
    }
  };
}
