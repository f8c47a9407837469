import { registerEnumType } from 'type-graphql';

export enum KeySource {
  PLATFORM = 'PLATFORM',
  BYOK = 'BYOK',
}

export enum InferencePath {
  AGENT_RUN = 'AGENT_RUN',
  THREAD_REPLY_CLASSIFICATION = 'THREAD_REPLY_CLASSIFICATION',
  DOCUMENT_OCR = 'DOCUMENT_OCR',
  TRANSCRIPTION = 'TRANSCRIPTION',
  CANVAS_AUTOCOMPLETE = 'CANVAS_AUTOCOMPLETE',
  MESSAGE_TRANSLATION = 'MESSAGE_TRANSLATION',
  SEMANTIC_SEARCH = 'SEMANTIC_SEARCH',
  SEARCH_RERANKER = 'SEARCH_RERANKER',
  SEARCH_INDEXER = 'SEARCH_INDEXER',
  ATTACHMENT_TEXT_EXTRACTION = 'ATTACHMENT_TEXT_EXTRACTION',
  MENTION_EMBEDDING_CACHE = 'MENTION_EMBEDDING_CACHE',
}

/** Whether the call's completion reached the record (INTERRUPTED: only its intent did). */
export enum UsageOutcome {
  COMPLETED = 'COMPLETED',
  INTERRUPTED = 'INTERRUPTED',
}

export enum AnalyticsGroupBy {
  DAY = 'DAY',
  MODEL = 'MODEL',
  PATH = 'PATH',
  KEY_SOURCE = 'KEY_SOURCE',
  TIER = 'TIER',
  /** the call's actor (actorUserId); calls made on nobody's behalf together, under the key '' */
  MEMBER = 'MEMBER',
}

registerEnumType(KeySource, { name: 'KeySource' });
registerEnumType(InferencePath, { name: 'InferencePath' });
registerEnumType(UsageOutcome, { name: 'UsageOutcome' });
registerEnumType(AnalyticsGroupBy, { name: 'AnalyticsGroupBy' });
