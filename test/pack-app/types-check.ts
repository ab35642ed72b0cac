// Compiled by test/pack.test.ts with `tsc --noEmit` inside the scratch app, against the
// installed tarballs only: each package's public types resolve and are real types. Every
// expected-error directive below must meet an error, which it would not if a type were `any`.
import { ErrorCode, isValidChannel, personalChannel, type Publication } from '@tidings/protocol';
import { createTidings, VERSION, type TidingsConfigInput } from '@tidings/server';
import { Tidings, TidingsError, type Subscription } from '@tidings/client';
import { TidingsProvider, useChannel, type UseChannelResult } from '@tidings/react';

export const valid: boolean = isValidChannel('chat:lobby');
export const personal: string = personalChannel('alice');
export const code: string = ErrorCode.PermissionDenied;
// @ts-expect-error: a publication's offset is a number
export const offset: Publication['offset'] = 'one';

export const config: TidingsConfigInput = { port: 0, namespaces: { chat: { presence: true } } };
// @ts-expect-error: not a setting
export const wrongConfig: TidingsConfigInput = { notASetting: true };
export const version: string = VERSION;
export const start = (): Promise<void> => createTidings(config).close();

const client = new Tidings('ws://127.0.0.1:8080/connection/websocket', { token: 'eyJ…' });
export const lobby: Subscription<{ text: string }> = client.subscribe<{ text: string }>('chat:lobby');
lobby.on('publication', ({ data }) => {
  const text: string = data.text;
  // @ts-expect-error: text is a string
  const count: number = data.text;
  void text;
  void count;
});
export const isClientError = (e: unknown): boolean => e instanceof TidingsError;

export const provider = TidingsProvider;
export const firstText = (r: UseChannelResult<{ text: string }>): string | undefined => r.messages[0]?.data.text;
// @ts-expect-error: the data has no `nope`
export const nope = (r: UseChannelResult<{ text: string }>): unknown => r.messages[0]?.data.nope;
export const hook: typeof useChannel = useChannel;
