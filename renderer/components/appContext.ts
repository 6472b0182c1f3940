/** What every component may reach: the API client and the toast channel. */
import { createContext, useContext } from 'react';
import type { MiruClient } from '../api/client.js';

export interface Toast {
  id: number;
  kind: 'info' | 'error' | 'success';
  message: string;
  action?: { label: string; run(): void };
}

export interface AppServices {
  client: MiruClient;
  toast(kind: Toast['kind'], message: string, action?: Toast['action']): void;
}

export const AppContext = createContext<AppServices | null>(null);

export function useServices(): AppServices {
  const services = useContext(AppContext);
  if (!services) throw new Error('AppContext missing');
  return services;
}
