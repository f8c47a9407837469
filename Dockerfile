# The service image: node 20, dependencies from the lockfile, compiled TypeScript, `npm start`.
FROM node:20

ENV NPM_CONFIG_UPDATE_NOTIFIER=false \
    DATA_DIR=/app/data
WORKDIR /app
RUN chown node:node /app
USER node
# Created here, owned by node, so a named volume mounted on it is writable (dev secrets, SQLite).
RUN mkdir -p /app/data

# Dependencies first, so source edits do not reinstall them. Dev dependencies are kept:
# `npm start` runs the TypeScript build first (prestart), and the image also serves `npm run migrate`.
COPY --chown=node:node package.json package-lock.json ./
RUN npm install --no-audit --no-fund

COPY --chown=node:node . .
RUN npm run build

EXPOSE 4000
# /readyz answers 200 once the database is reachable and migrated.
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||4000)+'/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
CMD ["npm", "start"]
