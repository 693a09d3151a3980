// app.js is imported as text (ui/index.ts): its default export is the source.
declare const source: string;
export default source;
