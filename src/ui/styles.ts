// The chat's stylesheet, scoped to its shadow root (nothing leaks out, page
// CSS does not leak in). Hosts theme it through the --hob-* custom properties
// and the parts listed in docs/chat-component.md.
export const CHAT_CSS = `
:host {
  --hob-font: system-ui, -apple-system, 'Segoe UI', sans-serif;
  --hob-mono: ui-monospace, 'SFMono-Regular', Menlo, Consolas, monospace;
  --hob-bg: #ffffff;
  --hob-fg: #1d2330;
  --hob-muted: #5d6778;
  --hob-border: #d8dde6;
  --hob-accent: #3557d6;
  --hob-accent-fg: #ffffff;
  --hob-user-bg: #eef2ff;
  --hob-assistant-bg: #f7f8fa;
  --hob-code-bg: #1f2430;
  --hob-code-fg: #e6e9ef;
  --hob-danger: #b3261e;
  --hob-radius: 10px;
  display: block;
  box-sizing: border-box;
  height: 36rem;
  font: 15px/1.5 var(--hob-font);
  color: var(--hob-fg);
  background: var(--hob-bg);
  border: 1px solid var(--hob-border);
  border-radius: var(--hob-radius);
  overflow: hidden;
}
:host([hidden]) { display: none; }
*, *::before, *::after { box-sizing: inherit; }
.chat { display: flex; flex-direction: column; height: 100%; min-height: 0; }
header { display: flex; align-items: center; gap: .5rem; padding: .5rem .75rem; border-bottom: 1px solid var(--hob-border); }
.title { font-weight: 600; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.status { color: var(--hob-muted); font-size: .85em; flex: 1; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
button {
  font: inherit; font-size: .9em; color: var(--hob-fg); background: var(--hob-bg);
  border: 1px solid var(--hob-border); border-radius: calc(var(--hob-radius) * .6);
  padding: .3rem .7rem; cursor: pointer;
}
button:hover:not(:disabled) { border-color: var(--hob-accent); }
button:disabled { opacity: .5; cursor: default; }
button.primary { background: var(--hob-accent); color: var(--hob-accent-fg); border-color: var(--hob-accent); }
button.danger { color: var(--hob-danger); }
:focus-visible { outline: 2px solid var(--hob-accent); outline-offset: 2px; }
.progress { display: flex; align-items: center; gap: .5rem; padding: .4rem .75rem; font-size: .85em; color: var(--hob-muted); border-bottom: 1px solid var(--hob-border); }
.progress[hidden] { display: none; }
.progress progress { flex: 0 0 30%; accent-color: var(--hob-accent); }
.messages { flex: 1; min-height: 0; overflow-y: auto; padding: .75rem; display: flex; flex-direction: column; gap: .6rem; }
.empty { margin: auto; color: var(--hob-muted); text-align: center; }
.msg { max-width: 92%; padding: .5rem .75rem; border-radius: var(--hob-radius); overflow-wrap: anywhere; }
.msg.user { align-self: flex-end; background: var(--hob-user-bg); white-space: pre-wrap; }
.msg.assistant { align-self: flex-start; background: var(--hob-assistant-bg); }
.msg.tool { align-self: flex-start; max-width: 92%; background: var(--hob-bg); border: 1px dashed var(--hob-border); font-size: .9em; }
.msg .who { font-size: .75em; font-weight: 600; color: var(--hob-muted); text-transform: uppercase; letter-spacing: .04em; }
.msg .content > :first-child { margin-top: 0; }
.msg .content > :last-child { margin-bottom: 0; }
.msg.streaming:not(.tool) .content::after { content: '▍'; color: var(--hob-accent); }
.msg .error { color: var(--hob-danger); }
.msg .reasoning { margin: .2rem 0 .4rem; color: var(--hob-muted); font-size: .9em; }
.msg .reasoning summary { cursor: pointer; width: fit-content; }
.msg .reasoning-text { white-space: pre-wrap; border-left: 2px solid var(--hob-border); padding-left: .6rem; margin-top: .25rem; }
.msg .call { font-family: var(--hob-mono); font-size: .9em; }
.msg .call .name { font-weight: 600; }
.msg .call .name::after { content: '('; font-weight: 400; }
.msg .call .arguments::after { content: ')'; }
.msg pre.result { font-family: var(--hob-mono); font-size: .85em; white-space: pre-wrap; margin: .3rem 0 0; max-height: 12rem; overflow: auto; }
.msg pre.result.running { color: var(--hob-muted); }
.msg .stats { font-size: .75em; color: var(--hob-muted); margin-top: .25rem; }
.msg .actions { display: flex; gap: .35rem; margin-top: .3rem; }
.msg .actions button { font-size: .75em; padding: .1rem .5rem; }
.msg textarea { width: 100%; min-height: 4rem; font: inherit; }
.content code { font-family: var(--hob-mono); font-size: .9em; }
.content :not(pre) > code { background: var(--hob-border); padding: 0 .25em; border-radius: 4px; }
.code { position: relative; }
.code pre { background: var(--hob-code-bg); color: var(--hob-code-fg); padding: 1.9rem .75rem .6rem; border-radius: calc(var(--hob-radius) * .6); overflow-x: auto; margin: .4rem 0; }
.code .copy { position: absolute; top: .3rem; right: .3rem; font-size: .7em; padding: .05rem .45rem; background: var(--hob-code-bg); color: var(--hob-code-fg); border-color: var(--hob-muted); }
.content table { border-collapse: collapse; }
.content th, .content td { border: 1px solid var(--hob-border); padding: .2rem .4rem; }
.content a { color: var(--hob-accent); }
.meta { display: flex; justify-content: space-between; gap: .5rem; padding: .2rem .75rem; font-size: .75em; color: var(--hob-muted); }
form.composer { display: flex; gap: .5rem; padding: .5rem .75rem .75rem; align-items: flex-end; }
form.composer textarea {
  flex: 1; resize: none; font: inherit; color: inherit; background: var(--hob-bg);
  border: 1px solid var(--hob-border); border-radius: calc(var(--hob-radius) * .6); padding: .45rem .6rem; min-height: 2.6rem; max-height: 10rem;
}
form.composer .buttons { display: flex; gap: .35rem; }
.attachments { display: flex; flex-wrap: wrap; gap: .4rem; padding: .4rem .75rem 0; }
.attachments[hidden], .attach-error[hidden], .attach[hidden] { display: none; }
.attachment { position: relative; }
.attachment .thumb { display: block; width: 4rem; height: 4rem; object-fit: cover; border: 1px solid var(--hob-border); border-radius: calc(var(--hob-radius) * .6); }
.attachment .remove { position: absolute; top: -.4rem; right: -.4rem; padding: 0 .35rem; line-height: 1.3; border-radius: 999px; font-size: .8em; }
.attach-error { margin: .3rem .75rem 0; font-size: .85em; color: var(--hob-danger); }
.chat.dropping form.composer textarea { border-color: var(--hob-accent); border-style: dashed; }
.msg .images { display: flex; flex-wrap: wrap; gap: .35rem; margin: .2rem 0 .3rem; white-space: normal; }
.msg .images .thumb { max-width: 10rem; max-height: 10rem; border-radius: calc(var(--hob-radius) * .6); }
dialog { width: min(36rem, 94vw); max-height: 90vh; border: 1px solid var(--hob-border); border-radius: var(--hob-radius); color: var(--hob-fg); background: var(--hob-bg); padding: 0; }
dialog::backdrop { background: rgb(0 0 0 / .35); }
dialog form { display: flex; flex-direction: column; gap: .6rem; padding: 1rem; }
dialog h2 { margin: 0; font-size: 1.1em; }
fieldset { border: 1px solid var(--hob-border); border-radius: calc(var(--hob-radius) * .6); display: grid; gap: .35rem; }
legend { font-weight: 600; font-size: .9em; }
label { font-size: .9em; }
.hub-row { display: flex; gap: .4rem; }
.hub-row input { flex: 1; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(9rem, 1fr)); gap: .4rem .75rem; }
.grid label { display: grid; gap: .1rem; }
dialog input, dialog select, dialog textarea { font: inherit; font-size: .9em; color: inherit; background: var(--hob-bg); border: 1px solid var(--hob-border); border-radius: 6px; padding: .2rem .4rem; }
.stored, .sessions { display: grid; gap: .25rem; font-size: .85em; }
.stored .row, .sessions .row { display: flex; gap: .5rem; align-items: center; }
.stored .row label { flex: 1; }
.dialog-buttons { display: flex; justify-content: flex-end; gap: .5rem; }
.visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
@media (max-width: 30rem) {
  .msg { max-width: 100%; }
  form.composer { flex-direction: column; align-items: stretch; }
  form.composer .buttons { justify-content: flex-end; }
}
`;
