import { defineConfig } from 'vitepress';

// The soo documentation site. Pages live in docs/; docs/reference/cli.md and docs/reference/api/ are
// generated at build time (scripts/build-site.mjs). Everything is served from this folder's build: no fonts,
// scripts or images from the network.
export default defineConfig({
  title: 'soo',
  description: 'Self-Other Overlap fine-tuning for language models and RL agents, in TypeScript',
  srcDir: 'docs',
  cleanUrls: false,
  lastUpdated: false,
  head: [['link', { rel: 'icon', type: 'image/svg+xml', href: '/favicon.svg' }]],
  // Broken internal links fail the build.
  ignoreDeadLinks: false,
  themeConfig: {
    search: { provider: 'local' },
    nav: [
      { text: 'Getting started', link: '/getting-started' },
      { text: 'Tutorials', link: '/tutorials/toy-model' },
      { text: 'Reference', link: '/reference/cli' },
      { text: 'Results', link: '/results' },
    ],
    sidebar: [
      {
        text: 'Introduction',
        items: [
          { text: 'Getting started', link: '/getting-started' },
          { text: 'Try it in your browser', link: '/try' },
        ],
      },
      {
        text: 'Concepts',
        items: [
          { text: 'Self-Other Overlap', link: '/concepts/soo' },
          { text: 'Hook points and names', link: '/concepts/hooks' },
          { text: 'Backends and the conformance suite', link: '/concepts/backends' },
          { text: 'LoRA adapters and PEFT files', link: '/concepts/adapters' },
        ],
      },
      {
        text: 'Tutorials',
        items: [
          { text: 'Your first self/other pair', link: '/tutorials/first-pair' },
          { text: '1. SOO on the embedded toy model', link: '/tutorials/toy-model' },
          { text: '2. Your own model folder', link: '/tutorials/own-model' },
          { text: '3. Write a backend', link: '/tutorials/backend' },
          { text: '4. RL: detect and fine-tune a deceptive agent', link: '/tutorials/rl' },
          { text: '5. Deploy a SOO-tuned model', link: '/tutorials/deploy' },
          { text: '6. Sweeping layers on a Slurm cluster', link: '/tutorials/slurm' },
        ],
      },
      {
        text: 'Reference',
        items: [
          { text: 'CLI', link: '/reference/cli' },
          { text: 'API (@soo/core)', link: '/reference/api/' },
          { text: 'File formats', link: '/reference/formats' },
        ],
      },
      { text: 'Results', items: [{ text: 'Paper vs. this project', link: '/results' }] },
    ],
    footer: { message: 'Apache-2.0' },
  },
});
