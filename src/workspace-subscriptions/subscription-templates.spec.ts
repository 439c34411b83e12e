import { describeTemplates, expandTemplate } from './subscription-templates';

describe('subscription templates', () => {
  it('lists at least three templates with schemas and topics', () => {
    const templates = describeTemplates();
    expect(templates.map((t) => t.id)).toEqual(['large-claims', 'rejections', 'channel-follows']);
    for (const t of templates) {
      expect(t.input_schema.type).toBe('object');
      expect(t.topics.length).toBeGreaterThan(0);
    }
  });

  it('expands chosen topics into rules', () => {
    expect(expandTemplate('large-claims', { min_amount: 1000, currency: 'NOK' }, ['approved'])).toEqual({
      rules: [{ trigger: 'claim_approved', conditions: { 'data.amount': { $gte: 1000 }, 'data.currency': 'NOK' } }],
      errors: [],
    });
    expect(expandTemplate('channel-follows', { channel_id: 'c1' }, ['follow']).rules).toEqual([
      { trigger: 'channel.follow', conditions: { channelid: 'c1' } },
    ]);
  });

  it('names the input that breaks the schema', () => {
    expect(expandTemplate('large-claims', {}, ['approved']).errors).toEqual([
      { field: 'template.inputs.min_amount', message: 'template.inputs.min_amount is required' },
    ]);
    expect(expandTemplate('large-claims', { min_amount: -5 }, ['approved']).errors[0]).toEqual({
      field: 'template.inputs.min_amount',
      message: 'template.inputs.min_amount must be >= 0',
    });
    expect(expandTemplate('large-claims', { min_amount: 1, colour: 'red' }, ['approved']).errors[0].field).toBe(
      'template.inputs.colour',
    );
    expect(expandTemplate('large-claims', { min_amount: 1 }, ['declined']).errors[0].field).toBe('template.topics');
    expect(expandTemplate('nope', {}, ['x']).errors[0].field).toBe('template.id');
  });
});
