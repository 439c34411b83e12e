import { buildNotificationPayload, CLAIM_STATUSES, claimEventFor, formatAmount } from './notification-payload';

describe('buildNotificationPayload', () => {
  it('reproduces the seed’s approved example', () => {
    expect(
      buildNotificationPayload({
        status: 'approved',
        comment: 'All receipts verified.',
        amount: 4850,
        currency: 'NOK',
        claim_id: 'clm_9f2a3b4c',
      }),
    ).toEqual({
      title: 'Expense claim approved',
      body: 'Your expense claim for 4850.00 NOK has been approved.',
      action_url: '/claims/clm_9f2a3b4c',
      action_label: 'View claim',
      severity: 'success',
    });
  });

  it('reproduces the seed’s rejected example', () => {
    expect(buildNotificationPayload({ status: 'rejected', comment: 'Missing receipt for hotel stay.' })).toEqual({
      title: 'Expense claim rejected',
      body: 'Your expense claim has been rejected. Reason: Missing receipt for hotel stay.',
      action_url: '/claims',
      action_label: 'View claims',
      severity: 'warning',
    });
  });

  it.each(CLAIM_STATUSES)('covers %s', (status) => {
    const payload = buildNotificationPayload({ status, amount: 12.5, currency: 'eur', claim_id: 'clm_1' });
    expect(payload.title).toMatch(/^Expense claim /);
    expect(payload.body).toContain('12.50 EUR');
    expect(payload.action_url).toBe('/claims/clm_1');
  });

  it('formats money with two decimals and no grouping', () => {
    expect(formatAmount(1234567.891, 'usd')).toBe('1234567.89 USD');
    expect(formatAmount(0, 'JPY')).toBe('0.00 JPY');
    expect(formatAmount(1.005, 'NOK')).toMatch(/^1\.0[01] NOK$/);
  });

  it('maps statuses to claim events', () => {
    expect(claimEventFor('approved')).toBe('claim_approved');
    expect(claimEventFor('submitted')).toBe('claim_submitted');
    expect(claimEventFor('rejected')).toBe('claim_rejected');
    expect(claimEventFor('paid')).toBeUndefined();
  });
});
