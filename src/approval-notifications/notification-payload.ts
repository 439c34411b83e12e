/**
 * buildNotificationPayload (seed 002): the human-facing text of a status change. The same
 * function serves the preview endpoint and notifyStatusChange, so a preview is what is sent.
 */
export const CLAIM_STATUSES = ['submitted', 'in_review', 'approved', 'rejected', 'paid', 'cancelled'] as const;
export type ClaimStatus = (typeof CLAIM_STATUSES)[number];

export type Severity = 'info' | 'success' | 'warning' | 'error';

export interface NotificationPayload {
  title: string;
  body: string;
  action_url: string;
  action_label: string;
  severity: Severity;
}

export interface PayloadInput {
  status: ClaimStatus;
  comment?: string;
  amount?: number;
  currency?: string;
  claim_id?: string;
}

/** ISO 4217 codes as the runtime knows them; no hand-kept list. */
export const ISO_CURRENCIES: ReadonlySet<string> = new Set(Intl.supportedValuesOf('currency'));

const money = new Intl.NumberFormat('en-US', {
  minimumFractionDigits: 2,
  maximumFractionDigits: 2,
  useGrouping: false,
});

/** `4850.00 NOK`: two decimals and the ISO code, the same in every locale. */
export function formatAmount(amount: number, currency: string): string {
  return `${money.format(amount)} ${currency.toUpperCase()}`;
}

const TEXT: Record<ClaimStatus, { title: string; verb: string; severity: Severity }> = {
  submitted: { title: 'Expense claim submitted', verb: 'has been submitted for approval', severity: 'info' },
  in_review: { title: 'Expense claim in review', verb: 'is being reviewed', severity: 'info' },
  approved: { title: 'Expense claim approved', verb: 'has been approved', severity: 'success' },
  rejected: { title: 'Expense claim rejected', verb: 'has been rejected', severity: 'warning' },
  paid: { title: 'Expense claim paid', verb: 'has been paid', severity: 'success' },
  cancelled: { title: 'Expense claim cancelled', verb: 'has been cancelled', severity: 'info' },
};

export function buildNotificationPayload(input: PayloadInput): NotificationPayload {
  const text = TEXT[input.status];
  const what =
    input.amount !== undefined && input.currency
      ? `Your expense claim for ${formatAmount(input.amount, input.currency)}`
      : 'Your expense claim';
  let body = `${what} ${text.verb}.`;
  const comment = input.comment?.trim();
  // A rejection is only useful with its reason; other statuses keep the comment on the notification itself.
  if (input.status === 'rejected' && comment) body += ` Reason: ${comment}`;
  return {
    title: text.title,
    body,
    action_url: input.claim_id ? `/claims/${input.claim_id}` : '/claims',
    action_label: input.claim_id ? 'View claim' : 'View claims',
    severity: text.severity,
  };
}

/** The claim_* event a status maps to, besides the status_changed event every change appends. */
export function claimEventFor(status: ClaimStatus): string | undefined {
  return { submitted: 'claim_submitted', approved: 'claim_approved', rejected: 'claim_rejected' }[status as string];
}
