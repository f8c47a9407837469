/** One GraphQL POST outside the load run: for seeding and to check an answer before measuring it. */
export async function postGraphql(url: string, query: string, variables: Record<string, unknown>, token?: string): Promise<{ status: number; text: string; json: { data?: Record<string, unknown> | null; errors?: unknown[] } }> {
  const response = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  const text = await response.text();
  return { status: response.status, text, json: JSON.parse(text) };
}

/** The data of a successful answer, or an error naming what failed. */
export async function graphqlOrThrow<T>(url: string, query: string, variables: Record<string, unknown>, token?: string): Promise<T> {
  const { status, text, json } = await postGraphql(url, query, variables, token);
  if (status !== 200 || json.errors || !json.data) throw new Error(`GraphQL request failed (${status}): ${text.slice(0, 500)}`);
  return json.data as T;
}
