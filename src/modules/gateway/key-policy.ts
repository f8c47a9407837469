import { InferencePath } from '../usage/usage.enums';

export enum KeyPolicy {
  /** the workspace's own key when one is configured, else the platform's */
  WORKSPACE_KEY = 'WORKSPACE_KEY',
  /** always the platform's key */
  PLATFORM_KEY = 'PLATFORM_KEY',
}

/**
 * Which key each inference path uses (SPEC.md, "Which key a call uses"). User-initiated work runs
 * on the workspace's key; background work the workspace did not ask for runs on the platform's.
 */
export const KEY_POLICY: Readonly<Record<InferencePath, KeyPolicy>> = {
  [InferencePath.AGENT_RUN]: KeyPolicy.WORKSPACE_KEY,
  [InferencePath.THREAD_REPLY_CLASSIFICATION]: KeyPolicy.WORKSPACE_KEY,
  [InferencePath.DOCUMENT_OCR]: KeyPolicy.WORKSPACE_KEY,
  [InferencePath.TRANSCRIPTION]: KeyPolicy.WORKSPACE_KEY,
  [InferencePath.CANVAS_AUTOCOMPLETE]: KeyPolicy.WORKSPACE_KEY,
  [InferencePath.MESSAGE_TRANSLATION]: KeyPolicy.WORKSPACE_KEY,
  [InferencePath.SEMANTIC_SEARCH]: KeyPolicy.WORKSPACE_KEY,
  [InferencePath.SEARCH_RERANKER]: KeyPolicy.WORKSPACE_KEY,
  [InferencePath.SEARCH_INDEXER]: KeyPolicy.PLATFORM_KEY,
  [InferencePath.ATTACHMENT_TEXT_EXTRACTION]: KeyPolicy.PLATFORM_KEY,
  [InferencePath.MENTION_EMBEDDING_CACHE]: KeyPolicy.PLATFORM_KEY,
};
