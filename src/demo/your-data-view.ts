/**
 * The "Your data" view's controller: renders what is stored and the model updates sent
 * (your-data.ts builds the DOM) and runs its actions — Export, Forget after a confirmation dialog, and checking for a new model.
 * The consent switches on it are main.ts's, shared with the browse view.
 */
import type { Recommender } from '../client/api.ts';
import type { Catalog } from './catalog.ts';
import { byId, replaceChildren } from './dom.ts';
import {
  contributionRows,
  download,
  EVENTS_SHOWN,
  eventRows,
  readMemory,
  snapshotFile,
  summaryRows,
  privacyLine,
  trainerLine,
  type YourData,
} from './your-data.ts';

/** What the view needs from the page. */
export interface YourDataDeps {
  /** The recommender, once it is started. */
  recs: () => Recommender | undefined;
  catalog: () => Catalog;
  onError: (e: unknown) => void;
}

/** A mounted "Your data" view. */
export interface YourDataView {
  /** Reads the memory, status and storage estimate again and renders them. */
  render(): Promise<void>;
  /** Turns the buttons on (once the recommender is started). */
  enable(): void;
}

/** Wires the view's elements in index.html (`#view-your-data`). */
export function mountYourDataView(deps: YourDataDeps): YourDataView {
  const ui = {
    summary: byId('data-summary'),
    note: byId('data-note'),
    events: byId('data-events'),
    eventsEmpty: byId('data-events-empty'),
    eventsShown: byId('events-shown'),
    exportBtn: byId<HTMLButtonElement>('data-export'),
    forgetBtn: byId<HTMLButtonElement>('data-forget'),
    forgetDialog: byId<HTMLDialogElement>('forget-dialog'),
    modelCheck: byId<HTMLButtonElement>('model-check'),
    trainer: byId('trainer-state'),
    privacy: byId('privacy-state'),
    updates: byId('data-updates'),
    updatesEmpty: byId('data-updates-empty'),
  };

  const note = (text: string) => {
    ui.note.textContent = text;
    ui.note.hidden = text === '';
  };

  async function render(): Promise<void> {
    const recs = deps.recs();
    if (!recs) return;
    const [snapshot, status, storage, contributions] = await Promise.all([
      readMemory(recs),
      recs.status(),
      navigator.storage?.estimate?.().catch(() => undefined),
      recs.contributions(),
    ]);
    const catalog = deps.catalog();
    const d: YourData = { snapshot, status, catalog, contributions };
    if (storage) d.storage = storage;
    replaceChildren(ui.summary, summaryRows(d));
    const rows = eventRows(snapshot, catalog);
    replaceChildren(ui.events, rows);
    ui.eventsEmpty.hidden = rows.length > 0;
    ui.trainer.textContent = trainerLine(status.federated);
    ui.privacy.textContent = privacyLine(status.federated.privacy);
    const updates = contributionRows(contributions);
    replaceChildren(ui.updates, updates);
    ui.updatesEmpty.hidden = updates.length > 0;
    ui.eventsShown.textContent =
      snapshot.events.length > EVENTS_SHOWN
        ? `newest ${EVENTS_SHOWN} of ${snapshot.events.length}`
        : '';
  }

  async function exportData(recs: Recommender): Promise<void> {
    const [snapshot, contributions] = await Promise.all([readMemory(recs), recs.contributions()]);
    const { name, blob } = snapshotFile(snapshot, contributions);
    download(name, blob);
    note(`Saved ${name}: everything listed here, as JSON.`);
  }

  async function forget(recs: Recommender): Promise<void> {
    await recs.forget();
    // The SDK announces it (onChange 'forget'), which re-renders; the note says what happened.
    note('Forgotten: nothing about you is stored in this browser now.');
  }

  async function checkForModel(recs: Recommender): Promise<void> {
    ui.modelCheck.disabled = true;
    try {
      const r = await recs.refresh();
      // A new version is announced by onChange ('model'), with the banner.
      if (!r.changed) note(`You have the latest model (${r.modelVersion}).`);
    } catch (e) {
      note(`Could not check for a new model: ${e instanceof Error ? e.message : String(e)}`);
    } finally {
      ui.modelCheck.disabled = false;
    }
  }

  const withRecs = (run: (recs: Recommender) => Promise<void>) => () => {
    const recs = deps.recs();
    if (recs) void run(recs).catch(deps.onError);
  };
  ui.exportBtn.addEventListener('click', withRecs(exportData));
  ui.forgetBtn.addEventListener('click', () => {
    ui.forgetDialog.returnValue = '';
    ui.forgetDialog.showModal();
  });
  ui.forgetDialog.addEventListener('close', () => {
    if (ui.forgetDialog.returnValue === 'forget') withRecs(forget)();
  });
  ui.modelCheck.addEventListener('click', withRecs(checkForModel));

  return {
    render,
    enable() {
      for (const el of [ui.exportBtn, ui.forgetBtn, ui.modelCheck]) el.disabled = false;
    },
  };
}
