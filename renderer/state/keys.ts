/** Which keys a focused control keeps for itself, so global shortcuts never steal typing or a slider's arrows. */

const TEXT_INPUT_TYPES = new Set(['text', 'search', 'number', 'email', 'url', 'password', 'tel', '']);

/** A field where keys type text: every key belongs to it. */
export function isTextEntry(target: EventTarget | null): boolean {
  const el = target as HTMLElement | null;
  if (!el || typeof el.closest !== 'function') return false;
  if (el.isContentEditable || el.closest('textarea')) return true;
  const input = el.closest('input');
  return input !== null && TEXT_INPUT_TYPES.has(input.type);
}

/** A control that moves with arrow keys (selects, sliders) or takes Enter/Space itself (buttons, checkboxes). */
export function ownsNavigationKeys(target: EventTarget | null): boolean {
  const el = target as HTMLElement | null;
  if (!el || typeof el.closest !== 'function') return false;
  return isTextEntry(el) || el.closest('select, input, button, [role="radio"], a') !== null;
}
