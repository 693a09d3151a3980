// Stylesheets are imported as text (ui/index.ts).
declare module "*.css" {
  const source: string;
  export default source;
}
