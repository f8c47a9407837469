/**
 * What the IDE page runs in the browser, beside GraphiQL's own build. Plain ES2017 with no
 * imports: it is served as it is written, as a file of its own (the CSP allows no inline script).
 *
 * The Authorization header the admin pastes is kept in sessionStorage (this tab only, gone when it
 * closes), and so is everything GraphiQL remembers: its tabs hold variables, and a variable may be
 * an OpenRouter key that must not outlive the session in localStorage.
 */
export const IDE_CLIENT_SCRIPT = String.raw`(function () {
  'use strict';
  var STORAGE_KEY = 'graphql-ide.authorization';
  var DEFAULT_QUERY = [
    '# 1. Paste a token in the bar above',
    '#    (npm run token -- --sub you --admin)',
    '# 2. Run with the play button or Ctrl-Enter',
    'query Viewer {',
    '  viewer {',
    '    userId',
    '    platformAdmin',
    '  }',
    '}',
    '',
  ].join('\n');

  var endpoint = window.location.pathname;
  var form = document.getElementById('auth-form');
  var input = document.getElementById('auth-token');
  var state = document.getElementById('auth-state');
  var forget = document.getElementById('auth-forget');
  var root = ReactDOM.createRoot(document.getElementById('graphiql'));

  /** "Bearer x", "bearer x" and a bare "x" all mean the header "Bearer x". */
  function headerValue(pasted) {
    var value = pasted.trim().replace(/^authorization:\s*/i, '');
    if (value === '') return '';
    return 'Bearer ' + value.replace(/^bearer\s+/i, '');
  }

  function render() {
    var authorization = window.sessionStorage.getItem(STORAGE_KEY) || '';
    state.textContent = authorization ? 'Token set for this tab' : 'No token: requests are anonymous';
    forget.hidden = !authorization;
    var fetcher = GraphiQL.createFetcher({
      url: endpoint,
      headers: authorization ? { authorization: authorization } : {},
      enableIncrementalDelivery: false,
    });
    // A new fetcher makes GraphiQL load the schema again, now with (or without) the token.
    root.render(
      React.createElement(GraphiQL, {
        fetcher: fetcher,
        defaultQuery: DEFAULT_QUERY,
        isHeadersEditorEnabled: false,
        storage: window.sessionStorage,
      }),
    );
  }

  form.addEventListener('submit', function (event) {
    event.preventDefault();
    var value = headerValue(input.value);
    input.value = '';
    if (value === '') return;
    window.sessionStorage.setItem(STORAGE_KEY, value);
    render();
  });
  forget.addEventListener('click', function () {
    window.sessionStorage.removeItem(STORAGE_KEY);
    render();
  });
  render();
})();
`;

/** The page around GraphiQL: a bar for the token above an editor that fills the window. */
export const IDE_PAGE_CSS = `html, body { height: 100%; margin: 0; }
body { display: flex; flex-direction: column; font-family: system-ui, sans-serif; }
.ide-auth { display: flex; flex-wrap: wrap; align-items: center; gap: 8px; padding: 8px 16px; border-bottom: 1px solid #d0d4dc; background: #f6f7f9; font-size: 14px; }
.ide-auth label { font-weight: 600; }
.ide-auth input { flex: 1 1 320px; max-width: 640px; padding: 6px 8px; font: inherit; border: 1px solid #b8bec9; border-radius: 4px; }
.ide-auth button { padding: 6px 12px; font: inherit; border: 1px solid #b8bec9; border-radius: 4px; background: #fff; cursor: pointer; }
.ide-auth [hidden] { display: none; }
.ide-auth-state { color: #4a5263; }
#graphiql { flex: 1; min-height: 0; }
`;

/** GraphQL's logo in the tab, so the browser does not ask for /favicon.ico. */
export const IDE_FAVICON_SVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><g fill="none" stroke="#e10098" stroke-width="2"><path d="M16 3 27 9.5v13L16 29 5 22.5v-13z"/><path d="M16 3 5 22.5h22z"/></g><g fill="#e10098"><circle cx="16" cy="3" r="2.5"/><circle cx="27" cy="9.5" r="2.5"/><circle cx="27" cy="22.5" r="2.5"/><circle cx="16" cy="29" r="2.5"/><circle cx="5" cy="22.5" r="2.5"/><circle cx="5" cy="9.5" r="2.5"/></g></svg>
`;
