/** Entry: connect to the host (IPC or HTTP), then render. The token is read and stripped before anything else. */
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { connect } from './api/client.js';
import { urlStore } from './state/urlState.js';
import { App } from './App.js';
import './styles.css';

performance.mark('miru:boot');
const client = connect();
urlStore.reload();
createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <App client={client} />
  </StrictMode>,
);
