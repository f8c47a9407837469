/** Every event a webhook endpoint may subscribe to (SPEC.md, "Budgets, webhooks, exports, key health"). */
export const WEBHOOK_EVENT_TYPES = [
  'key.saved',
  'key.replaced',
  'key.removed',
  'key.removed_by_plan_change',
  'key.status_changed',
  'budget.threshold_crossed',
  'usage.flagged',
  'usage.settled',
  'partner_token.created',
  'partner_token.revoked',
  'webhook.test',
] as const;

export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

export function isWebhookEventType(value: string): value is WebhookEventType {
  return (WEBHOOK_EVENT_TYPES as readonly string[]).includes(value);
}
