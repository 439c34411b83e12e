import type { FieldError } from '../core/http/errors';
import type { Action } from './subscription.store';
import { HEADER_VALUE_MASK } from '../core/webhooks/webhook-request';

/**
 * Webhook header values are write-only (they carry receivers' credentials): every response shows
 * the header names with HEADER_VALUE_MASK in place of each value, the delivery log the same, and
 * a replace that sends it back keeps the stored value.
 */
export { HEADER_VALUE_MASK };

/** Marks a request of the test endpoint's `send` (and its preview); Herald sets it, a subscription may not. */
export const TEST_HEADER = 'herald-test';

export function maskHeaders(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.keys(headers).map((name) => [name, HEADER_VALUE_MASK]));
}

/** Actions as responses show them: header names kept, values masked. */
export function maskActions(actions: Action[]): Action[] {
  return actions.map((a) => (a.headers ? { ...a, headers: maskHeaders(a.headers) } : a));
}

function storedValue(headers: Record<string, string> | undefined, name: string): string | undefined {
  const lower = name.toLowerCase();
  const found = Object.entries(headers ?? {}).find(([n]) => n.toLowerCase() === lower);
  return found?.[1];
}

/**
 * Puts the stored value back wherever a saved payload sends the mask. The counterpart of an action
 * is the stored action of the same type at the same index, else the first of that type. A stored
 * value only ever goes to the url it was set for: if a webhook's url changes, its masked headers
 * must be given again, or anyone allowed to edit could send a partner's credential to their own server.
 */
export function restoreMaskedHeaders(
  actions: Action[],
  stored: Action[] | undefined,
): { actions: Action[]; errors: FieldError[] } {
  const errors: FieldError[] = [];
  const restored = actions.map((action, i) => {
    if (!action.headers || !Object.values(action.headers).includes(HEADER_VALUE_MASK)) return action;
    const counterpart = stored?.[i]?.type === action.type ? stored[i] : stored?.find((s) => s.type === action.type);
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(action.headers)) {
      if (value !== HEADER_VALUE_MASK) {
        headers[name] = value;
        continue;
      }
      const field = `actions[${i}].headers.${name}`;
      const kept = storedValue(counterpart?.headers, name);
      if (kept === undefined) {
        errors.push({
          field,
          message: `${field}: "${HEADER_VALUE_MASK}" stands for a stored value, and there is none to keep; give the value`,
        });
      } else if (action.type === 'webhook' && counterpart?.url !== action.url) {
        errors.push({
          field,
          message: `${field}: the webhook url changed, so give the value again; a stored header value is only sent to the url it was set for`,
        });
      } else {
        headers[name] = kept;
      }
    }
    return { ...action, headers };
  });
  return { actions: restored, errors };
}
