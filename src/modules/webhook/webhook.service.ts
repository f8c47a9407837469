import { timeOrderedId } from '../../db/ids';
import { TransactionRunner } from '../../db/transaction-runner';
import { badUserInput, notFound } from '../../errors/app-error';
import type { RequestContext } from '../../request-context';
import { TenantSecretsCipher } from '../secrets/cipher';
import { WebhookAddressError, WebhookAddressPolicy } from './webhook-address.policy';
import { WebhookDeliveryEntity } from './webhook-delivery.entity';
import { WebhookEndpointEntity } from './webhook-endpoint.entity';
import { isWebhookEventType, WEBHOOK_EVENT_TYPES } from './webhook-event-types';
import { WebhookOutbox } from './webhook-outbox';
import { newWebhookSecret } from './webhook-signature';

/** After a rotation the previous secret keeps signing this long, so receivers can switch over. */
export const ROTATION_OVERLAP_MS = 24 * 60 * 60_000;
const MAX_ENDPOINTS_PER_WORKSPACE = 20;
const MAX_URL_LENGTH = 2048;
const MAX_DELIVERIES_PAGE = 200;
const MAX_OPENED_SECRETS = 10_000;

/** Seals and opens signing secrets with the tenant-secrets cipher, bound to the endpoint's workspace. */
export class WebhookSecrets {
  private readonly opened = new Map<string, string>();

  constructor(private readonly cipher: TenantSecretsCipher) {}

  seal(workspaceId: string, secret: string): Buffer {
    return this.cipher.encrypt(workspaceId, Buffer.from(secret, 'utf8'));
  }

  /** Sealed under an older phrase: the re-encryption command reseals it under the current one. */
  isCurrent(sealed: Buffer): boolean {
    return TenantSecretsCipher.keyIdOf(sealed) === this.cipher.currentKeyId;
  }

  reseal(workspaceId: string, sealed: Buffer): Buffer {
    return this.cipher.encrypt(workspaceId, this.cipher.decrypt(workspaceId, sealed));
  }

  /** Opened secrets are kept (keyed by their sealed bytes, so a rotation is a new entry): one decryption per secret, not per delivery. */
  open(workspaceId: string, sealed: Buffer): string {
    const key = `${workspaceId}\u0000${sealed.toString('base64')}`;
    let secret = this.opened.get(key);
    if (secret === undefined) {
      secret = this.cipher.decrypt(workspaceId, sealed).toString('utf8');
      if (this.opened.size >= MAX_OPENED_SECRETS) this.opened.clear();
      this.opened.set(key, secret);
    }
    return secret;
  }
}

/** The signing secrets of an endpoint now: the current one, and the previous one during its overlap. */
export function signingSecrets(secrets: WebhookSecrets, endpoint: WebhookEndpointEntity, now: Date): string[] {
  const current = [secrets.open(endpoint.workspaceId, endpoint.secret)];
  if (endpoint.previousSecret && endpoint.previousSecretUntil && endpoint.previousSecretUntil.getTime() > now.getTime()) {
    current.push(secrets.open(endpoint.workspaceId, endpoint.previousSecret));
  }
  return current;
}

/** Webhook endpoints of a workspace (Manage billing): their lifecycle, test events and recent deliveries. */
export class WebhookService {
  constructor(
    private readonly transactions: TransactionRunner,
    private readonly outbox: WebhookOutbox,
    private readonly secrets: WebhookSecrets,
    private readonly addresses: WebhookAddressPolicy,
  ) {}

  async create(ctx: RequestContext, workspaceId: string, url: string, events: string[] | null | undefined): Promise<{ secret: string; endpoint: WebhookEndpointEntity }> {
    const checkedUrl = await this.checkedUrlOrThrow(url);
    const subscribed = this.eventsOrThrow(events);
    const secret = newWebhookSecret();
    const endpoint = Object.assign(new WebhookEndpointEntity(), {
      id: timeOrderedId(),
      workspaceId,
      url: checkedUrl,
      events: subscribed === null ? null : JSON.stringify(subscribed),
      enabled: true,
      disabledReason: null,
      secret: this.secrets.seal(workspaceId, secret),
      previousSecret: null,
      previousSecretUntil: null,
      failingSince: null,
      createdBy: ctx.auth.userId ?? null,
      createdAt: new Date(),
    });
    await this.transactions.run(async (manager) => {
      if ((await manager.count(WebhookEndpointEntity, { where: { workspaceId } })) >= MAX_ENDPOINTS_PER_WORKSPACE) {
        throw badUserInput(`A workspace may have at most ${MAX_ENDPOINTS_PER_WORKSPACE} webhook endpoints`);
      }
      await manager.insert(WebhookEndpointEntity, endpoint);
    });
    return { secret, endpoint };
  }

  list(workspaceId: string): Promise<WebhookEndpointEntity[]> {
    return this.transactions.manager.find(WebhookEndpointEntity, { where: { workspaceId }, order: { createdAt: 'ASC', id: 'ASC' } });
  }

  /** Enabling clears the reason it was disabled and the failure streak. */
  async setEnabled(workspaceId: string, id: string, enabled: boolean): Promise<WebhookEndpointEntity> {
    return this.transactions.run(async (manager) => {
      const endpoint = await this.endpointOrThrow(manager, workspaceId, id);
      Object.assign(endpoint, enabled ? { enabled, disabledReason: null, failingSince: null } : { enabled, disabledReason: 'disabled by a member' });
      await manager.update(WebhookEndpointEntity, { id }, { enabled: endpoint.enabled, disabledReason: endpoint.disabledReason, failingSince: endpoint.failingSince });
      return endpoint;
    });
  }

  /** A new secret, shown once; the previous one keeps signing for 24 h beside it. */
  async rotate(workspaceId: string, id: string): Promise<{ secret: string; endpoint: WebhookEndpointEntity }> {
    const secret = newWebhookSecret();
    const endpoint = await this.transactions.run(async (manager) => {
      const found = await this.endpointOrThrow(manager, workspaceId, id);
      Object.assign(found, { previousSecret: found.secret, previousSecretUntil: new Date(Date.now() + ROTATION_OVERLAP_MS), secret: this.secrets.seal(workspaceId, secret) });
      await manager.update(WebhookEndpointEntity, { id }, { secret: found.secret, previousSecret: found.previousSecret, previousSecretUntil: found.previousSecretUntil });
      return found;
    });
    return { secret, endpoint };
  }

  /** Idempotent within the workspace; its pending deliveries go with it. */
  async delete(workspaceId: string, id: string): Promise<boolean> {
    await this.transactions.run((manager) => manager.delete(WebhookEndpointEntity, { workspaceId, id }));
    return true;
  }

  /** Queues `webhook.test` for this endpoint alone, whatever it subscribes to. */
  async sendTestEvent(workspaceId: string, id: string): Promise<boolean> {
    await this.transactions.run(async (manager) => {
      const endpoint = await this.endpointOrThrow(manager, workspaceId, id);
      await this.outbox.enqueue(manager, workspaceId, 'webhook.test', { workspaceId, endpointId: endpoint.id }, endpoint.id);
    });
    return true;
  }

  async deliveries(workspaceId: string, endpointId: string, first: number): Promise<WebhookDeliveryEntity[]> {
    if (!Number.isInteger(first) || first < 1 || first > MAX_DELIVERIES_PAGE) throw badUserInput(`first must be 1 to ${MAX_DELIVERIES_PAGE}`);
    await this.endpointOrThrow(this.transactions.manager, workspaceId, endpointId);
    return this.transactions.manager.find(WebhookDeliveryEntity, { where: { workspaceId, endpointId }, order: { createdAt: 'DESC', id: 'DESC' }, take: first });
  }

  private async endpointOrThrow(manager: TransactionRunner['manager'], workspaceId: string, id: string): Promise<WebhookEndpointEntity> {
    const endpoint = await manager.findOne(WebhookEndpointEntity, { where: { workspaceId, id } });
    if (!endpoint) throw notFound('Webhook endpoint');
    return endpoint;
  }

  private async checkedUrlOrThrow(text: string): Promise<string> {
    if (text.length > MAX_URL_LENGTH) throw badUserInput(`url may be at most ${MAX_URL_LENGTH} characters`);
    try {
      const url = this.addresses.parseOrThrow(text.trim());
      await this.addresses.pinOrThrow(url);
      return url.toString();
    } catch (error) {
      if (error instanceof WebhookAddressError) throw badUserInput(`url refused: ${error.message}`);
      throw error;
    }
  }

  private eventsOrThrow(events: string[] | null | undefined): string[] | null {
    if (events === null || events === undefined) return null;
    const unknown = events.find((event) => !isWebhookEventType(event));
    if (unknown !== undefined || events.length === 0) throw badUserInput(`events must be null (every event) or a non-empty list of: ${WEBHOOK_EVENT_TYPES.join(', ')}`);
    return [...new Set(events)].sort();
  }
}
